"""Rule files to checked declarations: files and the project file, YAML forms with positions, the checker.

May import relance.grammar and engine.data; it compiles nothing (the backends do)."""
