#include "validate/svg.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace irisml::validate::svg {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  double raw = (hi - lo) / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string tick_label(double v) {
  if (v == 0) return "0";
  double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) return fmt::format("{:.2g}", v);
  return fmt::format("{:g}", v);
}

std::string viridis(double t) {
  static const double c[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  t = std::clamp(t, 0.0, 1.0) * 4;
  int i = std::min(3, static_cast<int>(t));
  double f = t - i;
  int rgb[3];
  for (int k = 0; k < 3; ++k) rgb[k] = static_cast<int>(std::lround(c[i][k] + f * (c[i + 1][k] - c[i][k])));
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  auto i = static_cast<std::size_t>(pos);
  double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

Figure::Figure(double width, double height, double xlo, double xhi, double ylo, double yhi, bool flip_x, bool flip_y)
    : w_(width), h_(height), xlo_(xlo), xhi_(xhi), ylo_(ylo), yhi_(yhi), flip_x_(flip_x), flip_y_(flip_y) {
  if (!(xhi_ > xlo_)) xhi_ = xlo_ + 1;
  if (!(yhi_ > ylo_)) yhi_ = ylo_ + 1;
  out_ << fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n",
      w_, h_);
  out_ << fmt::format("<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"white\"/>\n", w_, h_);
}

double Figure::px(double x) const {
  const double f = (x - xlo_) / (xhi_ - xlo_);
  return kLeft + (flip_x_ ? 1 - f : f) * plot_w();
}

double Figure::py(double y) const {
  const double f = (y - ylo_) / (yhi_ - ylo_);
  return h_ - kBottom - (flip_y_ ? 1 - f : f) * plot_h();
}

void Figure::axes(const std::string& xlabel, const std::string& ylabel, const std::string& title) {
  out_ << fmt::format(
      "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" "
      "stroke=\"#333\"/>\n",
      kLeft, kTop, plot_w(), plot_h());
  for (double t : nice_ticks(xlo_, xhi_)) {
    double x = px(t);
    out_ << fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#333\"/>", x,
                        h_ - kBottom, h_ - kBottom + 4);
    out_ << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x, h_ - kBottom + 16,
                        tick_label(t));
  }
  for (double t : nice_ticks(ylo_, yhi_)) {
    double y = py(t);
    out_ << fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#333\"/>",
                        kLeft - 4, y, kLeft);
    out_ << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, y + 4,
                        tick_label(t));
  }
  out_ << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", kLeft + plot_w() / 2,
                      h_ - 8, html_escape(xlabel));
  out_ << fmt::format("<text transform=\"translate(14,{:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                      kTop + plot_h() / 2, html_escape(ylabel));
  out_ << fmt::format("<text x=\"{:.1f}\" y=\"16\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
                      kLeft + plot_w() / 2, html_escape(title));
}
void Figure::line(double x1, double y1, double x2, double y2, const std::string& style) {
  out_ << fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" {}/>\n", px(x1), py(y1), px(x2),
                      py(y2), style);
}
void Figure::polyline(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& color) {
  std::string pts;
  for (std::size_t i = 0; i < xs.size(); ++i) pts += fmt::format("{:.1f},{:.1f} ", px(xs[i]), py(ys[i]));
  out_ << fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"/>\n", pts, color);
}
void Figure::circle(double x, double y, double r, const std::string& color) {
  out_ << fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n", px(x), py(y), r, color);
}
void Figure::text_px(double x, double y, const std::string& text, const std::string& extra) {
  out_ << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" {}>{}</text>\n", x, y, extra, html_escape(text));
}
void Figure::cell(double x0, double x1, double y0, double y1, const std::string& color, double opacity) {
  const double a = std::min(px(x0), px(x1)), b = std::max(px(x0), px(x1));
  const double c = std::min(py(y0), py(y1)), d = std::max(py(y0), py(y1));
  const std::string translucent = opacity < 1 ? fmt::format(" fill-opacity=\"{:.2f}\"", opacity) : "";
  out_ << fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\"{}/>", a, c,
                      b - a + 0.3, d - c + 0.3, color, translucent);
}

}  // namespace irisml::validate::svg
