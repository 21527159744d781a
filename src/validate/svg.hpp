// Hand-written inline SVG for the HTML reports (evaluate's and the catalogue report):
// a figure with data-space drawing, axes with round ticks, and the colour map.
// No torch, no external resources.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace irisml::validate::svg {

// &, <, > and " as HTML entities.
std::string html_escape(const std::string& s);
// About `target` round tick positions in [lo, hi] (steps of 1, 2, 2.5, 5 × 10^k).
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
std::string tick_label(double v);
// Viridis at t in [0, 1], as "#rrggbb".
std::string viridis(double t);
// Linear-interpolation quantile of the values (NaN for none).
double quantile(std::vector<double> v, double q);

// One figure of width × height pixels showing [xlo, xhi] × [ylo, yhi]; flip_x / flip_y
// put the high end on the left / at the bottom (a Kiel diagram, a sky map in l).
class Figure {
 public:
  Figure(double width, double height, double xlo, double xhi, double ylo, double yhi, bool flip_x = false,
         bool flip_y = false);

  double px(double x) const;
  double py(double y) const;
  double plot_w() const { return w_ - kLeft - kRight; }
  double plot_h() const { return h_ - kTop - kBottom; }

  void axes(const std::string& xlabel, const std::string& ylabel, const std::string& title);
  void line(double x1, double y1, double x2, double y2, const std::string& style);
  void polyline(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& color);
  void circle(double x, double y, double r, const std::string& color);
  // A data-space rectangle [x0,x1]×[y0,y1]; opacity below 1 makes it translucent.
  void cell(double x0, double x1, double y0, double y1, const std::string& color, double opacity = 1.0);
  void text_px(double x, double y, const std::string& text, const std::string& extra = "");
  void raw(const std::string& s) { out_ << s; }
  std::string str() const { return out_.str() + "</svg>\n"; }

  static constexpr double kLeft = 62, kRight = 14, kTop = 24, kBottom = 40;

 private:
  std::ostringstream out_;
  double w_, h_, xlo_, xhi_, ylo_, yhi_;
  bool flip_x_, flip_y_;
};

}  // namespace irisml::validate::svg
