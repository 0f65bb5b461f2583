"""Image-quality measurements: slanted-edge blur and MTF, background noise, line-pair charts.

- :func:`physics.measure.edge.measure_edge` -> :class:`~physics.measure.edge.EdgeResult`
- :func:`physics.measure.noise.measure_noise` -> :class:`~physics.measure.noise.NoiseResult`,
  :func:`physics.measure.noise.normalization_range` (the product's intensity scale)
- :class:`physics.measure.chart.ChartLayout`, :func:`physics.measure.chart.measure_chart`
"""

from physics.measure.chart import ChartGroup, ChartLayout, GroupMeasurement, measure_chart
from physics.measure.edge import EdgeResult, measure_edge
from physics.measure.noise import NoiseResult, measure_noise, normalization_range, normalize

__all__ = ["ChartGroup", "ChartLayout", "EdgeResult", "GroupMeasurement", "NoiseResult",
           "measure_chart", "measure_edge", "measure_noise", "normalization_range", "normalize"]
