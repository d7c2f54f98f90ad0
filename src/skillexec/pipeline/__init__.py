"""The engine's pipeline stages, each a noun: admission, the attempt loop, the result cache,
recovery, the journal watcher and the data-directory lock. The engine wires them; none of
them imports the engine."""
