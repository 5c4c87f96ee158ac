// parleyd's command line and life: flags, the configuration, the identity, one io_context on one
// thread. Its own file so that tests can run the same daemon over another transport.
#pragma once

#include "transport.hpp"

namespace parley::server {

// Returns the process's exit code: 0 ok, 1 runtime failure, 2 usage, 78 bad configuration.
int daemon_main(int argc, char** argv, const TransportFactory& make_transport);

}  // namespace parley::server
