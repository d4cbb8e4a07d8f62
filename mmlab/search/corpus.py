"""The offline search collection of chapter 16a: sections of Python's documentation and questions about them.

Documents are the sections of ``pydoc_data.topics`` (shipped with CPython), one per distinct heading:
the heading and the first ``words`` words of its text. The labelled queries were written by hand for
this course: each asks, in a learner's words, for what one section explains, mostly without its
heading's words (a paraphrase, the case lexical search finds hard). A query whose section is missing
from the running Python's documentation is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["QUERIES", "Passage", "labelled_queries", "pydoc_passages"]

_UNDERLINE = re.compile(r"([*=\-~^])\1{2,}")


@dataclass(frozen=True)
class Passage:
    """One document: a section's heading, its topic key in ``pydoc_data.topics`` and its text."""

    title: str
    topic: str
    text: str  # the heading, a full stop, then the section's first words


def pydoc_passages(words: int = 64, min_words: int = 20) -> list[Passage]:
    """Every distinct section of Python's documentation topics with at least ``min_words`` words,
    cut to its first ``words`` words, in the order of the topic keys."""
    from pydoc_data.topics import topics

    seen: set[str] = set()
    passages = []
    for key in sorted(topics):
        lines = topics[key].splitlines()
        heads = [
            i
            for i in range(len(lines) - 1)
            if lines[i].strip() and _UNDERLINE.fullmatch(lines[i + 1].strip())
        ]
        for j, h in enumerate(heads):
            title = lines[h].strip()
            body = " ".join(lines[h + 2 : heads[j + 1] if j + 1 < len(heads) else len(lines)]).split()
            if title in seen or len(body) < min_words:
                continue
            seen.add(title)
            passages.append(Passage(title, key, f"{title}. {' '.join(body[:words])}"))
    return passages


# (query, heading of the section that answers it)
QUERIES: tuple[tuple[str, str], ...] = (
    ("check a condition while debugging and stop the program if it is false", 'The "assert" statement'),
    ("add to a variable in place, like x plus equals one", "Augmented assignment statements"),
    ("give a variable a type hint when I set it", "Annotated assignment statements"),
    ("loop over an asynchronous iterator", 'The "async for" statement'),
    ("get and set attributes dynamically with __getattr__", "Customizing attribute access"),
    (
        "objects that control what happens when an attribute is read, like property",
        "Implementing Descriptors",
    ),
    ("save memory by declaring a fixed set of instance attributes", "__slots__"),
    ("wait for the result of a coroutine", "Await expression"),
    ("operators for adding, multiplying and dividing numbers", "Binary arithmetic operations"),
    ("and, or and xor on the bits of integers", "Binary bitwise operations"),
    ("the singleton three dots object", "The Ellipsis Object"),
    ("logical and, or, not and short-circuit evaluation", "Boolean operations"),
    ("leave a loop early", 'The "break" statement'),
    ("passing positional and keyword arguments to a function", "Calls"),
    ("how to define a new class with base classes", "Class definitions"),
    ("what does == compare for different types", "Value comparisons"),
    ("test whether an element is contained in a list", "Membership test operations"),
    ("is versus equality, same object", "Identity comparisons"),
    ("run code only when a condition holds, with elif branches", 'The "if" statement'),
    ("repeat code as long as a condition stays true", 'The "while" statement'),
    ("iterate over the items of a sequence", 'The "for" statement'),
    ("catch an exception and handle the error", '"except" clause'),
    ("cleanup code that always runs whether or not an error happened", '"finally" clause'),
    ("structural pattern matching on a value, like switch case", 'The "match" statement'),
    ("add an extra if condition to a case pattern", "Guards"),
    ("match one of several alternatives with a vertical bar", "OR Patterns"),
    ("the underscore pattern that matches anything", "Wildcard Patterns"),
    ("destructure a dictionary in a case pattern", "Mapping Patterns"),
    ("__enter__ and __exit__ methods for use in a with block", "With Statement Context Managers"),
    ("skip the rest of this loop iteration and go to the next", 'The "continue" statement'),
    ("step through a program line by line and set breakpoints", '"pdb" — The Python Debugger'),
    ("remove a name binding or an item from a list", 'The "del" statement'),
    ("build a mapping with curly braces and key value pairs", "Dictionary displays"),
    ("the scope in which a name is looked up, local, enclosing, global", "Resolution of names"),
    ("comma separated expressions that build a tuple", "Expression lists"),
    ("writing decimal numbers with an exponent like 1e10", "Floating point literals"),
    ("placeholders in curly braces for formatting strings with str.format", "Format String Syntax"),
    ("width, alignment and precision options when formatting a number", "Format Specification Mini-Language"),
    ("define a function with default parameter values and decorators", "Function definitions"),
    ("change a module level variable from inside a function", 'The "global" statement'),
    ("words reserved by the language that cannot be used as names", "Keywords"),
    ("complex numbers with a j suffix", "Imaginary literals"),
    ("load code from another module", 'The "import" statement'),
    ("hexadecimal, octal and binary integer notation", "Integer literals"),
    ("small anonymous function written inline", "Lambdas"),
    ("assign to a variable of an outer function from a nested function", 'The "nonlocal" statement'),
    ("overload + and * for my own class", "Emulating numeric types"),
    ("every object has an identity, a type and a value", "Objects, values and types"),
    ("which operators bind more tightly than others", "Operator precedence"),
    ("a statement that does nothing, a placeholder", 'The "pass" statement'),
    ("raising a number to an exponent with two stars", "The power operator"),
    ("throw an exception myself, with a cause", 'The "raise" statement'),
    ("leave a function and give back a value", 'The "return" statement'),
    ("make my object support len and indexing with square brackets", "Emulating container types"),
    ("shift the bits of an integer left or right", "Shifting operations"),
    ("take a part of a sequence with start, stop and step", "Slicings"),
    ("split, strip, replace and other methods of text", "String Methods"),
    ("raw strings, escape sequences and byte literals", "String and Bytes literals"),
    ("which values count as false in an if", "Truth Value Testing"),
    ("the methods of a dict: get, keys, items, update", 'Mapping Types — "dict"'),
    ("keys(), values() and items() views change when the dictionary changes", "Dictionary view objects"),
    ("append, extend, insert and pop on a list", "Mutable Sequence Types"),
    ("immutable sequences created with parentheses and commas", "Tuples"),
    ("an immutable sequence of numbers for looping a fixed number of times", "Ranges"),
    ("negate a number or invert its bits", "Unary arithmetic and bitwise operations"),
    ("a generator function that produces values lazily", 'The "yield" statement'),
    ("the __init__, __repr__ and __eq__ special methods", "Basic customization"),
    ("control how classes are created with a metaclass", "Metaclasses"),
    ("the traceback object of an exception", "Traceback objects"),
)


def labelled_queries(passages: list[Passage]) -> tuple[list[str], list[int]]:
    """The queries whose section is among ``passages`` and, for each, the index of that passage."""
    where = {p.title: i for i, p in enumerate(passages)}
    kept = [(q, where[title]) for q, title in QUERIES if title in where]
    return [q for q, _ in kept], [i for _, i in kept]
