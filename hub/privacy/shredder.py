"""Erasure by crypto-shredding: when a subject is erased, its key is destroyed and the
photo files it sealed are deleted. Nothing can open the subject's data again, in the
log, the views, the snapshots or the exports, and the hash chain still verifies."""

from __future__ import annotations

from typing import Any

from hub.privacy.cipher import Cipher
from hub.privacy.photos import PhotoStore
from projections.views import PartnershipView
from schemas.events import SubjectErased


class Shredder:
    """Reacts to `subject.erased` as it is published (never on a replay)."""

    def __init__(self, cipher: Cipher, photos: PhotoStore) -> None:
        self.cipher = cipher
        self.photos = photos

    def __call__(self, view: PartnershipView, event: dict[str, Any]) -> None:
        """Before the erasure is applied to the view, which still lists the photos."""
        if event["type"] == SubjectErased.TYPE:
            self.shred(view, event["data"]["subject_id"])

    def shred(self, view: PartnershipView, subject_id: str) -> None:
        self.cipher.destroy(subject_id)
        subject = view.subjects.get(subject_id, {})
        for photo_id in [*subject.get("photos", []), *subject.get("stills", [])]:
            self.photos.delete(photo_id)

    def recover(self, views: dict[str, PartnershipView]) -> None:
        """At start-up: a subject the views show erased whose key is still here (the hub
        stopped between the erasure's commit and its shredding) is shredded now."""
        for view in views.values():
            for subject_id, record in view.subjects.items():
                if record["erased"] and self.cipher.keys.get(subject_id) is not None:
                    self.shred(view, subject_id)
