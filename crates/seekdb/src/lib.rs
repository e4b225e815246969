//! Placeholder: this room is filled by its own issue (see design.md §2).
