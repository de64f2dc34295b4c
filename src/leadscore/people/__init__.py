"""One person, one score: records of several sources that share an email, scored as one.

``config`` reads the ``people:`` section of the sources file; ``identity`` turns
an email into the key that links records; ``person`` assembles a person's
profile and history from its records (pure, no store); the rescore uses them.
"""

from leadscore.people.config import PeopleGroup, PeopleScope, SameAction, load_people
from leadscore.people.identity import identity_key
from leadscore.people.person import LinkedRecord, PersonView, assemble, score_person

__all__ = [
    "LinkedRecord",
    "PeopleGroup",
    "PeopleScope",
    "PersonView",
    "SameAction",
    "assemble",
    "identity_key",
    "load_people",
    "score_person",
]
