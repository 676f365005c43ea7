/* keten's version, as every program prints it (--version) and says it in Hello. */
#ifndef KETEN_VERSION_H
#define KETEN_VERSION_H

#define KETEN_VERSION "0.3.0"

#endif
