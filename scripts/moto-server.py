"""moto's DynamoDB server for the tests, answering one request at a time.

DynamoDB applies a conditional write atomically; moto's server runs each request on its own
thread and checks a ConditionExpression, then writes, with nothing held in between, so two
concurrent claims of one row could both win there and nowhere else. Serialising requests gives
the tests DynamoDB's guarantee. Arguments are moto_server's (`-H 127.0.0.1 -p PORT`).
"""

import threading

import moto.server

lock = threading.Lock()


class SerialApplication(moto.server.DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        with lock:
            # The whole response is produced inside the lock.
            return list(super().__call__(environ, start_response))


moto.server.DomainDispatcherApplication = SerialApplication
moto.server.main()
