"""Committed events applied everywhere, in log order: the streams' cached states, the
views, the live frames, and the reactions (processors, crypto-shredding)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from hub.application.aggregates import Aggregates
from hub.log.port import EventReader
from projections.live import Broadcaster
from projections.views import PartnershipView, apply

# Called with the view as it was before the event, for each event published live.
Reaction = Callable[[PartnershipView, dict[str, Any]], None]


class Publisher:
    def __init__(
        self,
        views: dict[str, PartnershipView],
        aggregates: Aggregates,
        live: Broadcaster,
        reactions: Sequence[Reaction] = (),
    ) -> None:
        self.views = views
        self.aggregates = aggregates
        self.live = live
        self.reactions = tuple(reactions)
        self.published = 0

    def fold(self, log: EventReader, on_progress: Callable[[int], None] | None = None) -> int:
        """Bring every view to the head of the log (start-up, after the snapshot); no
        frames, no reactions. Returns how many events were folded."""
        folded = 0
        for p in log.partnerships():
            view = self.views.setdefault(p, PartnershipView(p))
            if view.position > log.head(p):  # a snapshot from another log: start over
                view = self.views[p] = PartnershipView(p)
            for event in log.read(p, view.position + 1):
                apply(view, event)
                folded += 1
                if on_progress and folded % 100_000 == 0:
                    on_progress(folded)
        self.published += folded
        return folded

    def publish_many(self, events: Iterable[dict[str, Any]]) -> None:
        """Apply one commit's events (or several commits') in log order, then send their
        frames together. Called before the writer that caused them resumes, so an
        answered command reads back at once."""
        for event in events:
            self._publish(event)
        self.live.flush()

    def _publish(self, event: dict[str, Any]) -> None:
        p = event["partnership"]
        view = self.views.get(p)
        if view is None:
            view = self.views[p] = PartnershipView(p)
        if event["position"] <= view.position:
            return
        self.aggregates.advance(event)
        for react in self.reactions:
            react(view, event)
        apply(view, event)
        self.published += 1
        self.live.queue(view, event)
