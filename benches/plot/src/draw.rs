//! Draws one [`Chart`] as an SVG line chart with plotters.

use std::path::Path;

use plotters::prelude::*;

use crate::series::Chart;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// plotters failed (file or layout).
    #[error("drawing {path}: {message}")]
    Plot {
        /// The SVG being written.
        path: String,
        /// plotters' message.
        message: String,
    },
}

/// Colours for up to eight lines, then repeated.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Axis range from 0 to a little above the largest value, so lines never
/// touch the frame and a flat line at 0 still has an axis.
fn upper(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    if max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// Writes `chart` to `path` as an 800×480 SVG.
pub fn svg(chart: &Chart, path: &Path) -> Result<(), DrawError> {
    let err = |e: &dyn std::fmt::Display| DrawError::Plot {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let points = || chart.series.iter().flat_map(|s| s.points.iter());
    let x_max = upper(points().map(|p| p.0));
    let y_max = upper(
        points()
            .map(|p| p.1)
            .chain(chart.reference.iter().map(|r| r.0)),
    );
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .draw()
        .map_err(|e| err(&e))?;
    for (i, s) in chart.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        ctx.draw_series(LineSeries::new(
            s.points.iter().copied(),
            colour.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label(s.label.as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        ctx.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(|e| err(&e))?;
    }
    if let Some((y, label)) = &chart.reference {
        let grey = RGBColor(90, 90, 90);
        ctx.draw_series(DashedLineSeries::new(
            [(0.0, *y), (x_max, *y)],
            8,
            5,
            grey.stroke_width(1),
        ))
        .map_err(|e| err(&e))?
        .label(label.as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
