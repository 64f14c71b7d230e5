/** A KPI's trend as a uPlot sparkline (no axes, no legend); the tile carries the text alternative. */
import { html } from "htm/preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export function Sparkline({ points, tone }) {
  const box = useRef(null);
  const plot = useRef(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const xs = points.map((p) => Date.parse(p.window_start) / 1000);
    const ys = points.map((p) => p.value);
    const width = Math.max(120, el.clientWidth || 240);
    const height = Math.max(40, el.clientHeight || 56);
    const stroke = tone === "below" ? "#ff6b6b" : tone === "above" ? "#5ce08a" : "#7cc4ff";
    if (plot.current) plot.current.destroy();
    plot.current = new uPlot({
      width, height, legend: { show: false }, cursor: { show: false }, select: { show: false },
      scales: { x: { time: true } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke, width: 2, fill: `${stroke}22`, points: { show: points.length < 3 } }],
    }, [xs, ys], el);
    const ro = new ResizeObserver(() => {
      if (plot.current && el.clientWidth) plot.current.setSize({ width: el.clientWidth, height });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [points, tone]);

  useEffect(() => () => plot.current && plot.current.destroy(), []);
  return html`<div class="spark" ref=${box} aria-hidden="true"></div>`;
}
