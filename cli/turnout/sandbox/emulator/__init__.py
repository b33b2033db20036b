"""The local AWS emulator: `launcher` starts and stops it (by PID, on 127.0.0.1), `server` is
moto's server with turnout's changes (docs/emulator.md)."""
