/*
 * devbroker: the development Kafka broker, a librdkafka mock cluster
 * (rdkafka_mock.h) that speaks the real Kafka protocol over TCP on loopback.
 *
 * Used by the README's start command and by the integration tests: it
 * writes its bootstrap address to a file, creates topics with a given
 * partition count, and takes fault-injection commands on a control socket
 * while consumers come and go.
 */
#ifndef AAC_DEVBROKER_H
#define AAC_DEVBROKER_H

/* `agent-actions-consumer dev-broker [options]` and
 * `agent-actions-consumer dev-broker ctl SOCKET COMMAND...`.
 * Returns the process exit status. */
int aac_devbroker_main(int argc, char **argv);

#endif
