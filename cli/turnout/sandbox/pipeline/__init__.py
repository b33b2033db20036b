"""The sandbox's sample pipeline: "the user's existing system" that turnout migrates.

- ``consumer``: the consumer Lambda's code (zipped by ``create.consumer_package``).
- ``create``: creates the consumer tables, role, functions and event source mappings with boto3.
- ``producer``: the synthetic producer that follows the route parameter (a subprocess).
- ``report``: what was produced, processed, lost, duplicated and reordered.

See docs/sandbox.md.
"""
