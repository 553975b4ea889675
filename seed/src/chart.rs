//! The report's charts as SVG geometry: lines over the run's seconds and the
//! bars of a latency histogram, laid out here (scales, ticks) and drawn by
//! the page's template, so the page needs no script and no library.

use hdrhistogram::Histogram;

/// The drawing's size in SVG units; the page scales it to its width.
pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 240.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 28.0;
/// Room above the plot for the y axis' unit.
const TOP: f64 = 26.0;
const BOTTOM: f64 = 36.0;
/// Lines with at most this many points also get a dot at each, so that a
/// run of a second or two still shows its values.
const DOTS_UP_TO: usize = 60;
/// Bars of the latency histogram per tenfold of latency.
const BUCKETS_PER_DECADE: f64 = 10.0;

/// One line: its name in the legend, its CSS class (colour) and its points
/// as (x, y) in the data's units.
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A chart as the template draws it: everything in SVG units.
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub y_label: &'static str,
    pub x_label: &'static str,
    pub lines: Vec<Line>,
    pub bars: Vec<Bar>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    /// The plot area's edges.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

pub struct Line {
    pub name: &'static str,
    pub class: &'static str,
    /// The polyline's `points` attribute.
    pub points: String,
    pub dots: Vec<(f64, f64)>,
}

pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The tooltip: the bucket's latencies and count.
    pub label: String,
}

pub struct Tick {
    pub at: f64,
    pub label: String,
}

/// Lines over seconds 0 to `seconds`, the y axis from 0 to just above the
/// highest point.
pub fn lines(
    id: &'static str,
    title: &'static str,
    y_label: &'static str,
    seconds: f64,
    series: Vec<Series>,
) -> Chart {
    let highest = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_step = nice_step(highest);
    let y_max = (highest / y_step).ceil().max(1.0) * y_step;
    let x_max = seconds.max(1.0);
    let x_step = nice_step(x_max);
    let x = |v: f64| LEFT + v / x_max * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| HEIGHT - BOTTOM - v / y_max * (HEIGHT - TOP - BOTTOM);
    let lines = series
        .into_iter()
        .map(|s| {
            let placed: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|&(px, py)| (round(x(px)), round(y(py))))
                .collect();
            Line {
                name: s.name,
                class: s.class,
                points: placed
                    .iter()
                    .map(|(px, py)| format!("{px},{py}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                dots: if placed.len() <= DOTS_UP_TO {
                    placed
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    Chart {
        id,
        title,
        y_label,
        x_label: "seconds since the start",
        lines,
        bars: Vec::new(),
        x_ticks: ticks(0.0, x_max, x_step, x, "s"),
        y_ticks: ticks(0.0, y_max, y_step, y, ""),
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom: HEIGHT - BOTTOM,
    }
}

/// The histogram of latencies (recorded in µs) as bars over a log scale of
/// milliseconds, [`BUCKETS_PER_DECADE`] bars per tenfold.
pub fn histogram(id: &'static str, title: &'static str, latency: &Histogram<u64>) -> Chart {
    // Bucket k holds latencies from 10^(k/B) to 10^((k+1)/B) µs.
    let bucket = |micros: u64| ((micros.max(1) as f64).log10() * BUCKETS_PER_DECADE).floor() as i64;
    let mut counts = std::collections::BTreeMap::<i64, u64>::new();
    for value in latency.iter_recorded() {
        *counts.entry(bucket(value.value_iterated_to())).or_default() += value.count_at_value();
    }
    let (first, last) = match (counts.keys().next(), counts.keys().last()) {
        (Some(&first), Some(&last)) => (first, last),
        _ => (0, 0),
    };
    // A decade at least, starting and ending on one, so the ticks fall inside.
    let decade = BUCKETS_PER_DECADE as i64;
    let from = first.div_euclid(decade) * decade;
    let to = (last.div_euclid(decade) + 1) * decade;
    let highest = counts.values().copied().max().unwrap_or(0) as f64;
    let y_step = nice_step(highest);
    let y_max = (highest / y_step).ceil().max(1.0) * y_step;
    let width = (WIDTH - LEFT - RIGHT) / (to - from) as f64;
    let x = |k: f64| LEFT + (k - from as f64) * width;
    let y = |v: f64| HEIGHT - BOTTOM - v / y_max * (HEIGHT - TOP - BOTTOM);
    let edge_ms = |k: i64| 10f64.powf(k as f64 / BUCKETS_PER_DECADE) / 1000.0;
    let bars = counts
        .iter()
        .map(|(&k, &count)| Bar {
            x: round(x(k as f64)),
            y: round(y(count as f64)),
            width: round(width * 0.9),
            height: round(y(0.0) - y(count as f64)),
            label: format!(
                "{} to {} ms: {count} votes",
                milliseconds(edge_ms(k)),
                milliseconds(edge_ms(k + 1))
            ),
        })
        .collect();
    let x_ticks = (from / decade..=to / decade)
        .map(|d| Tick {
            at: round(x((d * decade) as f64)),
            label: format!("{} ms", milliseconds(edge_ms(d * decade))),
        })
        .collect();
    Chart {
        id,
        title,
        y_label: "votes",
        x_label: "latency (log scale)",
        lines: Vec::new(),
        bars,
        x_ticks,
        y_ticks: ticks(0.0, y_max, y_step, y, ""),
        left: LEFT,
        right: WIDTH - RIGHT,
        top: TOP,
        bottom: HEIGHT - BOTTOM,
    }
}

/// A step of 1, 2 or 5 times a power of ten that cuts `range` into about
/// five.
fn nice_step(range: f64) -> f64 {
    if range.is_nan() || range <= 0.0 {
        return 1.0;
    }
    let raw = range / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| raw <= m * magnitude)
        .unwrap_or(10.0);
    step * magnitude
}

fn ticks(from: f64, to: f64, step: f64, place: impl Fn(f64) -> f64, unit: &str) -> Vec<Tick> {
    let count = ((to - from) / step).round() as usize;
    (0..=count)
        .map(|i| {
            let value = from + i as f64 * step;
            Tick {
                at: round(place(value)),
                label: format!("{}{unit}", number(value)),
            }
        })
        .collect()
}

/// A tick's value: no decimals unless it needs them.
fn number(value: f64) -> String {
    if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').to_owned()
    }
}

fn milliseconds(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.0}")
    } else if ms >= 0.1 {
        number((ms * 100.0).round() / 100.0)
    } else {
        format!("{ms:.3}")
    }
}

/// SVG coordinates to a tenth of a unit: finer than a screen shows.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(100.0), 20.0);
        assert_eq!(nice_step(7.0), 2.0);
        assert_eq!(nice_step(0.3), 0.1);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn points_fall_inside_the_plot_and_the_highest_at_its_top_half() {
        let chart = lines(
            "t",
            "t",
            "votes/s",
            10.0,
            vec![Series {
                name: "ok",
                class: "ok",
                points: vec![(0.5, 10.0), (9.5, 95.0)],
            }],
        );
        let points: Vec<(f64, f64)> = chart.lines[0]
            .points
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(points.len(), 2);
        for (x, y) in &points {
            assert!((chart.left..=chart.right).contains(x), "{x}");
            assert!((chart.top..=chart.bottom).contains(y), "{y}");
        }
        assert!(points[1].1 < (chart.top + chart.bottom) / 2.0);
        assert_eq!(chart.y_ticks.last().unwrap().label, "100");
    }

    #[test]
    fn the_histogram_counts_every_latency_once() {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for micros in [900, 1_000, 1_100, 5_000, 5_000, 40_000] {
            latency.record(micros).unwrap();
        }
        let chart = histogram("h", "h", &latency);
        let counted: u64 = chart
            .bars
            .iter()
            .map(|b| b.label.split(": ").nth(1).unwrap())
            .map(|n| n.trim_end_matches(" votes").parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, 6);
        assert_eq!(chart.x_ticks.first().unwrap().label, "0.1 ms");
        assert_eq!(chart.x_ticks.last().unwrap().label, "100 ms");
    }
}
