#include "control/control_protocol.h"

#include <fmt/format.h>

#include <algorithm>

namespace aoe::control {
namespace {

ControlError Bad(std::string_view code, std::string message) {
  return ControlError{std::string(code), std::move(message)};
}

std::string Names(std::initializer_list<std::string_view> names) {
  std::string text;
  for (std::string_view n : names) {
    if (!text.empty()) text += ", ";
    text += n;
  }
  return text.empty() ? "none" : text;
}

}  // namespace

std::optional<Request> ParseRequest(std::string_view line, ControlError& error, Json& id) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = Bad(errc::kBadJson, "the request is not valid JSON; send one JSON object per line");
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = Bad(errc::kBadRequest, "the request must be a JSON object with a \"command\"");
    return std::nullopt;
  }
  Request request;
  if (auto it = j.find("id"); it != j.end()) request.id = *it;
  id = request.id;
  for (const auto& [key, value] : j.items()) {
    if (key != "id" && key != "command" && key != "args") {
      error = Bad(errc::kBadRequest,
                  fmt::format("unknown field \"{}\"; a request has id, command and args", key));
      return std::nullopt;
    }
  }
  auto command = j.find("command");
  if (command == j.end() || !command->is_string() || command->get<std::string>().empty()) {
    error = Bad(errc::kBadRequest, "the request needs \"command\": a string such as \"exports\"");
    return std::nullopt;
  }
  request.command = command->get<std::string>();
  if (auto args = j.find("args"); args != j.end()) {
    if (!args->is_object()) {
      error = Bad(errc::kBadRequest, "\"args\" must be a JSON object");
      return std::nullopt;
    }
    request.args = *args;
  }
  return request;
}

std::string SuccessLine(const Json& id, const Json& result) {
  Json j;
  j["id"] = id;
  j["ok"] = true;
  j["result"] = result;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string ErrorLine(const Json& id, const ControlError& error) {
  Json j;
  j["id"] = id;
  j["ok"] = false;
  j["error"] = {{"code", error.code}, {"message", error.message}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

bool WellFormedResponse(const Json& response) {
  if (!response.is_object() || !response.contains("ok") || !response["ok"].is_boolean()) {
    return false;
  }
  if (response["ok"].get<bool>()) return response.contains("result");
  if (!response.contains("error")) return false;
  const Json& error = response["error"];
  return error.is_object() && error.contains("code") && error["code"].is_string() &&
         error.contains("message") && error["message"].is_string();
}

std::optional<ControlError> CheckArguments(const Request& request,
                                           std::initializer_list<std::string_view> required,
                                           std::initializer_list<std::string_view> optional) {
  for (std::string_view name : required) {
    if (!request.args.contains(name)) {
      return Bad(errc::kBadArgument, fmt::format("{} needs the argument \"{}\" (it takes: {})",
                                                 request.command, name, Names(required)));
    }
  }
  for (const auto& [key, value] : request.args.items()) {
    const auto known = [&](std::initializer_list<std::string_view> names) {
      return std::find(names.begin(), names.end(), key) != names.end();
    };
    if (!known(required) && !known(optional)) {
      std::string takes = Names(required);
      if (optional.size() > 0) takes += fmt::format("; optional: {}", Names(optional));
      return Bad(errc::kBadArgument, fmt::format("{} has no argument \"{}\" (it takes: {})",
                                                 request.command, key, takes));
    }
  }
  return std::nullopt;
}

std::optional<ControlError> StringArg(const Request& request, std::string_view name,
                                      std::string& out) {
  auto it = request.args.find(name);
  if (it == request.args.end()) return std::nullopt;
  if (!it->is_string()) {
    return Bad(errc::kBadArgument, fmt::format("\"{}\" must be a string", name));
  }
  out = it->get<std::string>();
  return std::nullopt;
}

std::optional<ControlError> MacArg(const Request& request, std::string_view name, MacAddress& out) {
  std::string text;
  if (auto bad = StringArg(request, name, text)) return bad;
  std::optional<MacAddress> mac = MacAddress::Parse(text);
  if (!mac || mac->is_multicast() || mac->is_zero()) {
    return Bad(
        errc::kBadArgument,
        fmt::format("\"{}\": '{}' is not an initiator's MAC; write aa:bb:cc:dd:ee:ff", name, text));
  }
  out = *mac;
  return std::nullopt;
}

}  // namespace aoe::control
