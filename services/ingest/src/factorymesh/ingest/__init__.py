"""factorymesh ingest: sensors and MES in, validated SI telemetry and feature windows out."""
