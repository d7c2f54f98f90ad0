#!/bin/bash
# Hostile: tries to reach the network and leave a process behind.
(sleep 300 &) 
exec 3<>/dev/tcp/1.1.1.1/80 && echo "network reached" || echo "no network"
