"""`retl airbyte`: register our connectors, apply sources/destinations/connections from YAML, run syncs.

Everything talks to Airbyte's Public API (Cloud ``https://api.airbyte.com/v1``, self-managed
``https://HOST/api/public/v1``) through ``client.Client``, which mixes two transports on purpose:

* the ``airbyte-api`` SDK (1.0.x) for connector definitions, connections and jobs: its models fit
  those endpoints exactly and give typed, validated requests (an unknown ``syncMode`` or
  ``jobType`` fails before anything is sent);
* plain REST (our ``ApiClient``: retries, backoff, redaction) for the token endpoint and for
  sources and destinations: the SDK types their ``configuration`` as a closed union of ~600
  registry connectors' configs, so a custom connector's configuration cannot be expressed in it.

Both take their bearer token from one ``client.Tokens``, so a token renewed by one is used by
the other. Modules: ``client`` (auth, transports, errors), ``register`` (definitions from
``metadata.yaml``), ``apply`` (the YAML file), ``jobs`` (sync and status), ``commands`` (the
CLI handlers and exit codes). Importing this package does not import the SDK (it takes 0.5 s).
"""
