#include "logging/summary.h"

#include "absl/strings/str_format.h"

namespace kafkasidecar::logging {

std::string FormatSummary(uint64_t processed, uint64_t errors, std::chrono::duration<double> elapsed) {
  const double seconds = elapsed.count();
  const double rate = seconds > 0 ? static_cast<double>(processed) / seconds : 0.0;
  const std::string rate_text = rate < 10 ? absl::StrFormat("%.1f", rate) : absl::StrFormat("%.0f", rate);
  return absl::StrFormat("Processed %d messages, Errors: %d, Rate: %s msg/s", processed, errors, rate_text);
}

std::optional<std::string> Summary::Record(bool failed, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++processed_;
  if (failed) ++errors_;
  if (interval_ == 0 || processed_ % interval_ != 0) return std::nullopt;
  return FormatSummary(processed_, errors_, now - start_);
}

std::string Summary::Final(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return FormatSummary(processed_, errors_, now - start_);
}

uint64_t Summary::processed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return processed_;
}

uint64_t Summary::errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return errors_;
}

}  // namespace kafkasidecar::logging
