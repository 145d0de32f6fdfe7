"""The command line (argparse and formatting only; the work is done by the runtime and the devices)."""
