"""People several sandboxes share, so that a demo shows one person across platforms.

Record number ``i`` of a sandbox seeded with an overlap is person number ``i + offset``;
every sandbox derives that person's email from the seed and the person's number
alone, so sandboxes with nearby offsets hold many of the same people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Lars", "Mia", "Noah"]
LAST = ["Ruiz", "Okafor", "Schmidt", "Tanaka", "Dubois", "Kowalski", "Silva", "Novak", "Berg", "Haddad", "Moreau"]
DOMAINS = ["acme-software.example", "northwind.example", "globex.example", "initech.example", "gmail.com"]


@dataclass(frozen=True, slots=True)
class Overlap:
    offset: int

    def email(self, seed: int, number: int) -> str:
        person = number + self.offset
        rng = random.Random(f"{seed}:{person}")
        return f"{rng.choice(FIRST)}.{rng.choice(LAST)}.{person}@{rng.choice(DOMAINS)}".lower()
