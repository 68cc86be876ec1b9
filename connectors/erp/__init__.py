"""The ERP side of Millstream: the outbox pipelines write to, webhook subscriptions, and the dispatcher
that delivers records as signed CloudEvents."""
