"""Our MCP server: the broker workspace and ops tools for agents, under the same RLS.

Not named ``mcp``: that would shadow the SDK it is built with.
"""
