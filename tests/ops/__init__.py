"""Operating the portal: CLI, configuration, deployment, faults, scale-out, migrations,
server bodies, logs and mail."""
