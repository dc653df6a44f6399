# KafkaTestBed.cmake — CTest fixtures that run real Apache Kafka clusters on
# loopback for the integration tests (scripts/kafka-dev; docs/TESTBED.md).
#
# Fixtures, each a cluster of the same name started once per ctest run by a
# setup test and stopped by a cleanup test after the last test that needs it:
#
#   fixture   cluster                  client ports          controller ports  test environment
#   kafka1    1 node, newest 4.x       19092                 19192             GREGOR_TEST_KAFKA1
#   kafka3    3 nodes, newest 4.x      29092-29094           29192-29194       GREGOR_TEST_KAFKA3
#   kafka39   1 node, newest 3.9.x     19292                 19392             GREGOR_TEST_KAFKA39
#   kafka082  1 node, 0.8.2.2          19492                 ZooKeeper 19592   GREGOR_TEST_KAFKA082
#
# The ports are fixed because a test's ENVIRONMENT is fixed at configure
# time; they sit below Linux's ephemeral range (32768-60999) so that no
# outgoing connection can hold them. Override them with the cache variables
# GREGOR_TESTBED_KAFKA1_PORT, GREGOR_TESTBED_KAFKA3_PORT,
# GREGOR_TESTBED_KAFKA39_PORT (controllers listen 100 above),
# GREGOR_TESTBED_KAFKA082_PORT and GREGOR_TESTBED_KAFKA082_ZK_PORT (its
# ZooKeeper, by default 100 above). The setup tests
# also write each bootstrap list to <build>/testbed/<fixture>.bootstrap.
#
# Every integration test gets GREGOR_TEST_KAFKA1, GREGOR_TEST_KAFKA3,
# GREGOR_TEST_KAFKA39, GREGOR_TEST_KAFKA082 (bootstrap lists "127.0.0.1:P1,...") and
# GREGOR_KAFKA_DEV (absolute path of scripts/kafka-dev, to create topics and
# to kill and restart nodes) in its environment.
#
# Setting GREGOR_KEEP_CLUSTERS=1 when running ctest leaves the clusters
# running after the tests; the next run's setup finds them healthy and reuses
# them (a start takes 3-10 s otherwise).
#
#   gregor_integration_test(NAME name COMMAND cmd args...
#                           FIXTURES kafka1|kafka3|kafka39...
#                           [TIMEOUT seconds] [ENVIRONMENT VAR=value...]
#                           [LABELS label...] [WORKING_DIRECTORY dir])
#     adds test integration.<name> with label "integration", the fixtures it
#     requires, the environment above, and a RESOURCE_LOCK per cluster it uses:
#     tests that kill nodes must not run beside tests on the same cluster.
#
#   gregor_testbed_fixtures_of(file out_var)
#     the fixtures a test source asks for: those whose GREGOR_TEST_KAFKA*
#     variable it mentions.
include_guard(GLOBAL)

get_filename_component(_gregor_testbed_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(GREGOR_KAFKA_DEV "${_gregor_testbed_root}/scripts/kafka-dev" CACHE FILEPATH
    "The test bed script (scripts/kafka-dev)")
set(GREGOR_TESTBED_KAFKA1_PORT 19092 CACHE STRING "Client port of the kafka1 fixture")
set(GREGOR_TESTBED_KAFKA3_PORT 29092 CACHE STRING "First client port of the kafka3 fixture (3 nodes)")
set(GREGOR_TESTBED_KAFKA39_PORT 19292 CACHE STRING "Client port of the kafka39 fixture")
set(GREGOR_TESTBED_KAFKA082_PORT 19492 CACHE STRING "Client port of the kafka082 fixture (Apache Kafka 0.8.2.2)")
math(EXPR _gregor_kafka082_zk_default "${GREGOR_TESTBED_KAFKA082_PORT} + 100")
set(GREGOR_TESTBED_KAFKA082_ZK_PORT ${_gregor_kafka082_zk_default} CACHE STRING
    "ZooKeeper port of the kafka082 fixture")
set(GREGOR_TESTBED_DIR "${CMAKE_BINARY_DIR}/testbed")
file(MAKE_DIRECTORY "${GREGOR_TESTBED_DIR}")

set(GREGOR_TESTBED_FIXTURES kafka1 kafka3 kafka39 kafka082)

# Start-up waits at most 120 s for the brokers; a first run also fetches
# Apache Kafka from Maven Central.
set(_gregor_testbed_setup_timeout 400)

function(_gregor_testbed_bootstrap port nodes out_var)
  set(list "")
  math(EXPR last "${nodes} - 1")
  foreach(i RANGE ${last})
    math(EXPR p "${port} + ${i}")
    list(APPEND list "127.0.0.1:${p}")
  endforeach()
  string(REPLACE ";" "," list "${list}")
  set(${out_var} "${list}" PARENT_SCOPE)
endfunction()

_gregor_testbed_bootstrap(${GREGOR_TESTBED_KAFKA1_PORT} 1 GREGOR_TEST_KAFKA1)
_gregor_testbed_bootstrap(${GREGOR_TESTBED_KAFKA3_PORT} 3 GREGOR_TEST_KAFKA3)
_gregor_testbed_bootstrap(${GREGOR_TESTBED_KAFKA39_PORT} 1 GREGOR_TEST_KAFKA39)
_gregor_testbed_bootstrap(${GREGOR_TESTBED_KAFKA082_PORT} 1 GREGOR_TEST_KAFKA082)
set(GREGOR_TESTBED_ENVIRONMENT
    "GREGOR_TEST_KAFKA1=${GREGOR_TEST_KAFKA1}"
    "GREGOR_TEST_KAFKA3=${GREGOR_TEST_KAFKA3}"
    "GREGOR_TEST_KAFKA39=${GREGOR_TEST_KAFKA39}"
    "GREGOR_TEST_KAFKA082=${GREGOR_TEST_KAFKA082}"
    "GREGOR_KAFKA_DEV=${GREGOR_KAFKA_DEV}")

function(_gregor_testbed_fixture name)
  add_test(NAME testbed.${name}.start
           COMMAND "${GREGOR_KAFKA_DEV}" start ${name} ${ARGN}
                   --bootstrap-file "${GREGOR_TESTBED_DIR}/${name}.bootstrap")
  set_tests_properties(testbed.${name}.start PROPERTIES
    FIXTURES_SETUP ${name} LABELS integration TIMEOUT ${_gregor_testbed_setup_timeout})
  add_test(NAME testbed.${name}.stop COMMAND "${GREGOR_KAFKA_DEV}" stop ${name} --unless-kept)
  set_tests_properties(testbed.${name}.stop PROPERTIES
    FIXTURES_CLEANUP ${name} LABELS integration TIMEOUT 120)
endfunction()

_gregor_testbed_fixture(kafka1 --nodes 1 --version 4 --port-base ${GREGOR_TESTBED_KAFKA1_PORT})
_gregor_testbed_fixture(kafka3 --nodes 3 --version 4 --port-base ${GREGOR_TESTBED_KAFKA3_PORT})
_gregor_testbed_fixture(kafka39 --nodes 1 --version 3.9 --port-base ${GREGOR_TESTBED_KAFKA39_PORT})
_gregor_testbed_fixture(kafka082 --nodes 1 --version 0.8.2 --port-base ${GREGOR_TESTBED_KAFKA082_PORT}
                        --zookeeper-port ${GREGOR_TESTBED_KAFKA082_ZK_PORT})

function(gregor_testbed_fixtures_of file out_var)
  file(READ "${file}" text)
  set(fixtures "")
  foreach(f ${GREGOR_TESTBED_FIXTURES})
    string(TOUPPER ${f} upper)
    if(text MATCHES "GREGOR_TEST_${upper}([^0-9]|$)")
      list(APPEND fixtures ${f})
    endif()
  endforeach()
  # Re-read when the file changes: the fixtures it needs may have changed.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
  set(${out_var} "${fixtures}" PARENT_SCOPE)
endfunction()

function(gregor_integration_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;TIMEOUT;WORKING_DIRECTORY"
                        "COMMAND;FIXTURES;ENVIRONMENT;LABELS")
  if(NOT arg_NAME OR NOT arg_COMMAND)
    message(FATAL_ERROR "gregor_integration_test: NAME and COMMAND are required")
  endif()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "gregor_integration_test(${arg_NAME}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_FIXTURES)
    message(FATAL_ERROR "gregor_integration_test(${arg_NAME}): FIXTURES (${GREGOR_TESTBED_FIXTURES}) is required")
  endif()
  set(locks "")
  foreach(f ${arg_FIXTURES})
    if(NOT f IN_LIST GREGOR_TESTBED_FIXTURES)
      message(FATAL_ERROR
        "gregor_integration_test(${arg_NAME}): unknown fixture '${f}' (${GREGOR_TESTBED_FIXTURES})")
    endif()
    list(APPEND locks testbed.${f})
  endforeach()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 600)
  endif()
  set(dir_args "")
  if(arg_WORKING_DIRECTORY)
    set(dir_args WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}")
  endif()
  set(labels integration ${arg_LABELS})
  set(environment ${GREGOR_TESTBED_ENVIRONMENT} ${arg_ENVIRONMENT})
  set(name integration.${arg_NAME})
  add_test(NAME ${name} COMMAND ${arg_COMMAND} ${dir_args})
  set_tests_properties(${name} PROPERTIES
    LABELS "${labels}"
    FIXTURES_REQUIRED "${arg_FIXTURES}"
    RESOURCE_LOCK "${locks}"
    TIMEOUT ${arg_TIMEOUT}
    ENVIRONMENT "${environment}")
endfunction()
