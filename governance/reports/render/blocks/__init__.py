"""The pack blocks by domain. Importing this package registers every block in
:mod:`governance.reports.render.registry`."""

from governance.reports.render.blocks import appendices, audit, curves, evaluations, governance, oversight, records

__all__ = ["appendices", "audit", "curves", "evaluations", "governance", "oversight", "records"]
