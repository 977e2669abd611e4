// The suites the test host offers (suites.cpp) and its OfxHost struct.
#pragma once

#include <string>

#include "host.h"

namespace testhost {

// The OfxHost to give a plugin, offering the suites `options` allows; messages sent
// with a NULL handle go to `message_sink`.
OfxHost* configure_host(Host* message_sink, const HostOptions& options);
void release_host(Host* message_sink);

// The host's own property set (name, supported contexts, depths, ...).
PropertySet& host_properties();

// Integer, boolean and choice parameters hold an int; the others a double or a string.
bool param_holds_int(const std::string& type);

}  // namespace testhost
