"""dvol"""
