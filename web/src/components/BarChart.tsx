// A bar chart in plain SVG: a handful of bars needs no chart library, and
// costs nothing of the first load's budget. The table beside it is the
// accessible form of the same numbers.
export interface Bar {
  label: string;
  value: number;
}

export function BarChart(props: { title: string; bars: Bar[]; height?: number }) {
  const h = props.height ?? 120;
  const max = Math.max(1, ...props.bars.map((b) => b.value));
  const w = Math.max(props.bars.length * 28, 200);
  const bw = w / Math.max(1, props.bars.length);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h + 16}`} role="img" aria-label={props.title}
           preserveAspectRatio="none">
        {props.bars.map((b, i) => {
          const bh = (b.value / max) * h;
          return (
            <g key={b.label}>
              <rect x={i * bw + 2} y={h - bh} width={bw - 4} height={bh} className="bar">
                <title>{`${b.label}: ${b.value}`}</title>
              </rect>
              {props.bars.length <= 8 && (
                <text x={i * bw + bw / 2} y={h + 12} textAnchor="middle">{b.label}</text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>{props.title}</figcaption>
    </figure>
  );
}
