"""The acceptance scenarios (scripts/acceptance.py runs them), one module per family, each on
the shared test bed (scripts/testbed): drainer, daemon, dispatcher, scale_from_zero,
bed_self_check, dispatcher_v2, dispatcher_volume, dispatch_policy, mutations, iam, logs."""
