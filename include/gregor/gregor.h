/* gregor/gregor.h — umbrella header of the gregor Kafka client. */
#ifndef GREGOR_GREGOR_H
#define GREGOR_GREGOR_H

#include "gregor/client.h"
#include "gregor/consumer.h"
#include "gregor/error.h"
#include "gregor/group.h"
#include "gregor/message.h"
#include "gregor/metadata.h"
#include "gregor/producer.h"

#endif
