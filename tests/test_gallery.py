"""`Gallery` alone: which version each listed image was posted to, from the API's evidence.

The end-to-end cases (a real crawl against the fake server) are in test_attribution.py; these
pin each rule of `civittui.engine.attribution` with hand-made images.
"""

from __future__ import annotations

from typing import Any

from civittui.engine.attribution import Gallery


def image(image_id: int, post_id: int, detected: list[int] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": image_id, "postId": post_id}
    if detected is not None:
        found["modelVersionIds"] = detected
    return found


def test_a_showcase_image_places_its_whole_post() -> None:
    gallery = Gallery([10, 20], showcase={1: 20})
    waiting = image(2, post_id=7)
    assert gallery.see(waiting) == []  # no evidence yet: it waits
    assert gallery.undecided() == [7] and gallery.waiting() == 1
    shown = image(1, post_id=7)
    assert gallery.see(shown) == [(20, waiting), (20, shown)]
    assert gallery.undecided() == [] and gallery.waiting() == 0
    later = image(3, post_id=7)
    assert gallery.see(later) == [(20, later)]  # the post is decided: placed at once


def test_listed_for_a_version_it_does_not_detect_means_posted_to_it() -> None:
    gallery = Gallery([10, 20], showcase={})
    assert gallery.see(image(1, 5, detected=[10]), listed_for=10) == []  # detected: no proof
    assert gallery.undecided() == [5]
    proof = image(2, 5, detected=[99])
    placed = gallery.see(proof, listed_for=20)
    assert [(v, i["id"]) for v, i in placed] == [(20, 1), (20, 2)]


def test_an_image_seen_again_is_only_new_evidence() -> None:
    gallery = Gallery([10], showcase={})
    first = image(1, 5, detected=[])
    assert gallery.see(first) == []
    # the same image in version 10's listing, not detecting it: now proven, placed once
    assert gallery.see(first, listed_for=10) == [(10, first)]
    assert gallery.see(first, listed_for=10) == []


def test_a_post_on_another_version_is_counted_elsewhere() -> None:
    gallery = Gallery([10], showcase={})
    gallery.see(image(1, 5))
    gallery.see(image(2, 5))
    assert gallery.decide(5, 99) == []
    assert gallery.elsewhere == 2
    assert gallery.decide(6, None) == [] and gallery.elsewhere == 2  # nothing was waiting


def test_posts_no_version_listing_returned_are_attached_elsewhere() -> None:
    gallery = Gallery([10, 20], showcase={})
    gallery.see(image(1, 5))  # from the creator's listing only
    gallery.see(image(2, 6, detected=[10]), listed_for=10)  # listed for 10, detecting it
    gallery.unlisted_elsewhere()
    assert gallery.undecided() == [6] and gallery.elsewhere == 1


def test_give_up_forgets_a_post_and_says_how_many_images_it_had() -> None:
    gallery = Gallery([10], showcase={})
    gallery.see(image(1, 5))
    gallery.see(image(2, 5))
    assert gallery.give_up(5) == 2
    assert gallery.undecided() == [] and gallery.give_up(5) == 0


def test_images_without_ids_are_ignored() -> None:
    gallery = Gallery([10], showcase={})
    assert gallery.see({"id": 1}) == [] and gallery.see({"postId": 2}) == []
    assert gallery.see({"id": "1", "postId": 2}) == []
    assert gallery.undecided() == []


def test_wanted_keeps_the_order_given() -> None:
    assert Gallery([30, 10, 20, 10], showcase={}).wanted() == [30, 10, 20]
