// Boost.URL is used header-only: its sources are compiled here, once for
// every binary (config reads endpoints; the command line reads store URLs).
#include <boost/url/src.hpp>
