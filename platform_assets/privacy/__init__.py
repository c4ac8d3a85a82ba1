"""The data subject's rights: access (a subject export) and, built on the same lookup, erasure."""
