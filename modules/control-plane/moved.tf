# The key and its alias moved into modules/kms-key (one definition for the three modules that
# create a key). Same objects, same policy: upgrading plans these moves and nothing else.
moved {
  from = aws_kms_key.this[0]
  to   = module.key[0].aws_kms_key.this
}

moved {
  from = aws_kms_alias.this[0]
  to   = module.key[0].aws_kms_alias.this
}
