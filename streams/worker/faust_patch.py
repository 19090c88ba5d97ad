"""A fix for faust-streaming's handling of revoked partitions, installed on every worker app."""

from __future__ import annotations

import faust

__all__ = ["commit_before_revoke"]


def commit_before_revoke(app: faust.App) -> None:
    """Acknowledged offsets of revoked partitions are committed before faust-streaming forgets them.

    faust-streaming's ``Consumer.on_partitions_revoked`` drops its record of acknowledged offsets for the revoked
    partitions *before* its revoke handler waits for in-flight events and commits: acknowledgements since the last
    periodic commit are lost, and a rebalance redelivers batches already written. Here the same wait-and-commit
    (stop the flow, wait until every taken event is acknowledged, commit) runs first.
    """
    base = app.transport.Consumer

    class Consumer(base):  # type: ignore[misc,valid-type]
        async def on_partitions_revoked(self, revoked: set) -> None:
            assignment = self.assignment()
            if assignment:
                self.stop_flow()
                self.app.flow_control.suspend()
                self.pause_partitions(assignment)
                self.app.flow_control.clear()
                await self.app._consumer_wait_empty(self, self.log)
            await super().on_partitions_revoked(revoked)

    app.transport.Consumer = Consumer
