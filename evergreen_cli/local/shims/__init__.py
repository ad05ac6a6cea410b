"""Small bridges over the gaps between moto 5.2.5 and AWS (FACTS: "Gaps to bridge"), one module per service.

Each bridge is one function or class. The classes patch one moto method and
are context managers (``install()`` / ``uninstall()``; ``patch.Patch``). None of
them interprets ASL: moto's own Step Functions interpreter runs the state machine.

- ``lambda_``: ``InProcessLambda``: Lambda invocations run the real handler in this process
  (or in a worker process: evergreen_cli.local.lambda_processes).
- ``events``: ``EventBridgeToStepFunctions``: EventBridge rules start executions;
  ``ScheduledRules``: scheduled rules invoke their Lambda targets on a tick.
- ``stepfunctions``: ``register_state_machines``: CloudFormation's state machines, visible to the
  interpreter; ``DefaultExecutionName``: an execution started without a name gets a UUID.
- ``cloudwatch``: ``create_alarms``: the template's alarms, which moto's CloudFormation skips;
  ``AlarmEvaluator``: alarms get evaluated and emit state-change events.
- ``s3``: ``configure_buckets``: S3 versioning and S3 -> EventBridge, as the template asks.
- ``sagemaker``: ``LocalTrainingJobs``: ``createTrainingJob.sync`` tasks run the job on this machine.
"""
