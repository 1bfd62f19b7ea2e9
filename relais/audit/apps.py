from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "relais.audit"
    label = "audit"
    verbose_name = "Journal d'audit"

    def ready(self):
        from django_tasks.signals import task_finished, task_started

        from relais.audit import context

        tokens = {}

        def started(sender, task_result, **kwargs):
            name = task_result.task.module_path.rsplit(".", 1)[-1]
            tokens[task_result.id] = context.start_task_actor(name)

        def finished(sender, task_result, **kwargs):
            token = tokens.pop(task_result.id, None)
            if token is not None:
                context.end_task_actor(token)

        # While a task runs, the audit rows it writes name it (actor "system", "task:<name>").
        task_started.connect(started, dispatch_uid="relais.audit.task_started", weak=False)
        task_finished.connect(finished, dispatch_uid="relais.audit.task_finished", weak=False)
