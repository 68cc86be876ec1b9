"""Simulated RFID gates: readers at dock doors and line-side gates reading GS1 EPC tags of pallets and cases."""
