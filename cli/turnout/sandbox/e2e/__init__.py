"""The end-to-end run: the sandbox's pipeline and a full cutover on two real AWS accounts
(`make e2e-aws`), or on the local emulator by the same code (`make e2e-emulator`, what CI runs).

    settings   where: the accounts, regions and roles (TURNOUT_E2E_*), or the emulator
    places     what differs between AWS and the emulator: clients, the producer's identity,
               starting the emulator and the local Lambda runtime (AWS runs Lambda itself)
    spec       the run's migration spec: the example spec with names unique to the run
    traffic    the sample producer (the sandbox producer on the producer helper) in a thread
    run        apply both environments, create the pipeline, traffic, cut over, report
    teardown   delete the pipeline and destroy both environments

See docs/e2e.md.
"""
