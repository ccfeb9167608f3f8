"""The local test bed the scripts share: moto (tests/moto_server.py) and its clients, a Lambda
Runtime API running the release bootstraps, events as AWS sends them, and the task-dispatcher's
bed with its SQS event source mapping.

- moto.py: `Moto` (the test bed process and its command channel), `clients`, REGION / ACCOUNT / ROOT
- runtime_api.py: `RuntimeApi` (Lambda's Runtime API, one per function process), `Function`
  (a release bootstrap against it, as Lambda runs it)
- measure.py: one measured invocation (`invoke_once`: duration, peak RSS), `run_measured`,
  `measure` (timed, then with the bed's DynamoDB read accounting)
- events.py: EventBridge envelopes (ECS, scheduled, lifecycle) and Lambda's SQS batch
- ecs.py: hosts, task definitions, daemon services, edits of moto's model
- ddb.py: the jobs table, the bulk load, cloned job items
- dispatcher.py: `DispatcherBed` (jobs table, a dispatcher per cluster, readers of its state)
- sqs.py: `EventSourceMapping` (Lambda's SQS poller, as template.yaml configures it)
- checks.py: `check`

The scripts run as `python scripts/X.py`, so scripts/ is on the import path: `from testbed.moto
import Moto`.
"""
