"""The plugin pages' shared style sheet (inline: the pages load nothing from outside)."""

STYLE = """body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
.champion{background:#e6f4ea}.promoted{color:#1a7f37;font-weight:bold}.rejected{color:#b42318;font-weight:bold}
.muted{color:#666}.reason{max-width:60em}.fix{color:#0b5394}.summary span{margin-right:2em}"""
