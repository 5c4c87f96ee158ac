// parleyd: the Parley chat daemon. One thread, one io_context, plain TCP listeners.
#include "daemon.hpp"

int main(int argc, char** argv) {
  return parley::server::daemon_main(argc, argv, parley::server::make_tcp_transport);
}
