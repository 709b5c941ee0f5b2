"""``paramisp demo``: a guided run through the suite and the self-contained HTML report it writes."""

from paramisp.demo.report import DemoReport, Figure, Panel, Plot, Section, Table, report_to_json, write_html

__all__ = ["DemoReport", "Figure", "Panel", "Plot", "Section", "Table", "report_to_json", "write_html"]
