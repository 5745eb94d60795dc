"""``afk doctor --deep``: afk's contracts turned into a read-only check of a user's own servers.

The contracts afk was built against were checked against the official API descriptions, never
against a particular Forgejo, GitHub or T3. The deep doctor runs the reads afk uses against each
enrolled repo and T3 through the real adapters, over an HTTP client whose hooks validate every
reply against the packaged descriptions and refuse any write, and tells each divergence.
"""
