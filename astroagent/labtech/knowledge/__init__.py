"""What analysis and the fix rules must agree on, in one leaf package both import (STYLE point 14).

    exceptions  which error types are transient, and the family a retry names to catch each
    network     which calls reach the network, where their timeout goes, whether they may write
    decorators  which decorators retry, cache or time a function; the retry astroagent writes
    purity      whether a function is pure (static facts and the caching rule ask the same question)
    hashable    whether a cache can key on a function's arguments and hand out its result again
    names       what a name refers to (import aliases, qualified names)
    capabilities  what a resolved name can do: the effect families the guard judges changes by

It imports nothing else of the Lab Technician; ``exceptions`` and ``network`` do not need LibCST.
"""
