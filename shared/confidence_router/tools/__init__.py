"""Tool handling shared by backends and routing: `tool_choice` forms (`choice`), tool calls out of
model text (`parsing`), and edge tool calls checked against the offered schemas (`validation`)."""
