"""news-monitor: poll news sources, match rules, deliver signed alerts durably.

The pipeline is stated once, with its reasons, in docs/architecture.md; the folders of this
package follow it.
"""

__version__ = "0.1.0"
